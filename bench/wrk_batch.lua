-- wrk_batch.lua: every request POSTs the same multipart/form-data body, for
-- bench/run_http.py's batch uploads to bale's POST /batch (which gives every part a new
-- server-generated key, so repeating the body never rewrites an object).
--
--   wrk -t2 -c64 -d10s --latency -s bench/wrk_batch.lua http://127.0.0.1:PORT/batch \
--       -- BODY_FILE BOUNDARY
--
-- BODY_FILE holds the whole body (run_http.py writes it: N parts of one object each);
-- BOUNDARY is its multipart boundary. The request is built once (no request()), so the
-- client does no per-request work.

function init(args)
  if args[1] == nil or args[2] == nil then
    error("usage: wrk ... -s wrk_batch.lua URL -- BODY_FILE BOUNDARY")
  end
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. args[2]
end
