-- wrk script for test/bench/gateway.sh. GW_MODE selects what each request is:
--   upload   POST /api/v1/ingest/upload, multipart, a 50 KB PDF that is new
--            content every time (else dedup answers with the first request):
--            "%PDF-1.4", a 32-character tag unique per request, incompressible
--            filler (random bytes, per thread), then "xref", trailer,
--            "startxref" with the byte offset of "xref", and "%%EOF"
--   status   GET /api/v1/ingest/status/<id>, ids read from GW_IDS (one a line)
--   get      the URL's path as given (stats, /health)
-- done() prints one line: RESULT <requests/s> <p50 ms> <p99 ms> <non-2xx> <socket errors>
local mode = os.getenv("GW_MODE") or "get"
local size = tonumber(os.getenv("GW_PDF_BYTES") or "51200")
local boundary = "wrkbenchboundary7f3a9c1e5b"
local counter = 0
local thread_tag = ""
local filler, ids, head, tail

local threads = {}
local next_thread = 0

function setup(thread)
   next_thread = next_thread + 1
   thread:set("thread_no", next_thread)
   table.insert(threads, thread)
end

function init(args)
   math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919 + math.floor(os.clock() * 1e6))
   thread_tag = string.format("%02d%08x", thread_no or 0, math.random(0, 0x7fffffff))
   if mode == "upload" then
      -- incompressible bytes, so that TOAST compression does not flatter the figures;
      -- no byte sequence here can contain the boundary (it needs "\r\n--wrk...")
      local t = {}
      local header_len = #"%PDF-1.4\n%" + 32 + 1
      local trailer_len = 120
      for i = 1, size - header_len - trailer_len do
         t[i] = string.char(math.random(0, 255))
      end
      filler = table.concat(t)
      head = "--" .. boundary .. "\r\n" ..
         'Content-Disposition: form-data; name="file"; filename="bench.pdf"\r\n' ..
         "Content-Type: application/pdf\r\n\r\n"
      tail = "\r\n--" .. boundary .. "--\r\n"
   elseif mode == "status" then
      ids = {}
      for line in io.lines(os.getenv("GW_IDS")) do
         if #line > 0 then table.insert(ids, line) end
      end
   end
end

local function pdf()
   counter = counter + 1
   local tag = string.format("%s%022d", thread_tag, counter)   -- 32 characters
   local start = "%PDF-1.4\n%" .. tag .. "\n" .. filler
   local xref = #start
   return start .. "xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\nstartxref\n" ..
      xref .. "\n%%EOF\n"
end

function request()
   if mode == "upload" then
      return wrk.format("POST", "/api/v1/ingest/upload",
         { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary },
         head .. pdf() .. tail)
   elseif mode == "status" then
      return wrk.format("GET", "/api/v1/ingest/status/" .. ids[math.random(1, #ids)])
   end
   return wrk.format("GET")
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n",
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      e.status, e.connect + e.read + e.write + e.timeout))
end
