-- wrk_random_get.lua: every request GETs a path picked at random from a file of paths
-- (one per line), for bench/run_http.py.
--
--   wrk -t2 -c64 -d10s --latency -s bench/wrk_random_get.lua http://127.0.0.1:PORT/ \
--       -- PATHS_FILE [SEED]
--
-- Each wrk thread loads the list in init() and prebuilds one request per path, so a
-- request costs one random pick. Thread i seeds math.random with SEED * 1000 + i: two
-- servers given path files of the same objects in the same order get the same sequence
-- of objects.

local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local requests = {}

function init(args)
  local file = args[1]
  if file == nil then
    error("usage: wrk ... -s wrk_random_get.lua URL -- PATHS_FILE [SEED]")
  end
  for line in io.lines(file) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("GET", line)
    end
  end
  if #requests == 0 then
    error("no paths in " .. file)
  end
  math.randomseed((tonumber(args[2]) or 1) * 1000 + (id or 0))
end

function request()
  return requests[math.random(#requests)]
end
