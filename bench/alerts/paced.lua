-- wrk script: requests from a file, paced to a total rate (wrk itself has no rate control).
-- env: BENCH_REQUESTS (lines "path<TAB>user-agent<TAB>once"), BENCH_RATE (requests/s, all threads),
-- BENCH_THREADS, BENCH_ONCE (0: leave out the lines marked once). A line marked once is sent a single time
-- in the whole run, by one thread (the others leave it out).
-- Each thread owns rate/threads slots per second; every request claims the next slot and waits for it
-- (wrk's delay() hook), so the rate holds as long as the connections outnumber rate x latency. A thread
-- more than 1 s behind drops the missed slots instead of bursting to catch up.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]])
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local reqs, once, sent, idx, interval, next_slot = {}, {}, {}, 0, 1, 0
function init(args)
  local n_threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local rate = tonumber(os.getenv("BENCH_RATE") or "1000") / n_threads
  local with_once = os.getenv("BENCH_ONCE") ~= "0"
  local n = 0
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    local path, ua, flag = line:match("^([^\t]*)\t([^\t]*)\t(%d)$")
    n = n + 1
    if flag == "0" or (with_once and n % n_threads == tid) then
      reqs[#reqs + 1] = wrk.format("GET", path, { ["User-Agent"] = ua })
      once[#reqs] = flag == "1"
    end
  end
  idx = math.floor(#reqs * tid / n_threads) -- threads start apart in the list
  interval = 1000 / rate
  next_slot = now_ms()
end

function request()
  repeat
    idx = idx % #reqs + 1
  until not (once[idx] and sent[idx])
  sent[idx] = true
  return reqs[idx]
end

function delay()
  local t = now_ms()
  if next_slot < t - 1000 then
    next_slot = t
  end
  local wait = next_slot - t
  next_slot = next_slot + interval
  if wait < 0 then
    return 0
  end
  return wait
end
