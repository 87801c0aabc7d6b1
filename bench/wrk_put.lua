-- wrk_put.lua: every request PUTs the same body under a new key, for bench/run_http.py.
--
--   wrk -t2 -c64 -d10s --latency -s bench/wrk_put.lua http://127.0.0.1:PORT/ \
--       -- PREFIX BODY_FILE TAG [flat|hashed]
--
-- Keys are "u" .. TAG .. "-" .. thread .. "-" .. n, n counting the thread's requests
-- from 1, so no key is written twice within a run (or across runs with different TAGs).
-- The path is PREFIX .. key ("flat", e.g. /o/KEY for bale) or PREFIX .. "ab/cd/" .. key
-- ("hashed": a 256 x 256 directory tree, the NAS layout, e.g. /dav/ab/cd/KEY for nginx
-- WebDAV). h = (n * 2654435761 + thread * 40503) % 65536 picks the directory ab/cd =
-- h / 256, h % 256 in hex; run_http.py recomputes it to read objects back.
-- Content-Type is image/jpeg.

local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local prefix, tag, hashed, head_tail
local n = 0

function init(args)
  prefix, tag = args[1], args[3]
  if prefix == nil or args[2] == nil or tag == nil then
    error("usage: wrk ... -s wrk_put.lua URL -- PREFIX BODY_FILE TAG [flat|hashed]")
  end
  hashed = args[4] == "hashed"
  local f = assert(io.open(args[2], "rb"))
  local body = f:read("*a")
  f:close()
  head_tail = " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
      "\r\nContent-Type: image/jpeg\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

function request()
  n = n + 1
  local key = "u" .. tag .. "-" .. id .. "-" .. n
  local path
  if hashed then
    local h = (n * 2654435761 + id * 40503) % 65536
    path = string.format("%s%02x/%02x/%s", prefix, math.floor(h / 256), h % 256, key)
  else
    path = prefix .. key
  end
  return "PUT " .. path .. head_tail
end
