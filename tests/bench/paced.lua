-- paced.lua - wrk script: POST one AdmissionReview at a constant rate, latency measured from
-- when each request was due (coordinated omission corrected, as wrk2 does).
--   SG_BODY       file with the request body
--   SG_CONN_RATE  requests per second per connection
-- Run it with one connection per wrk thread (-tN -cN): a thread's Lua state is then one
-- connection's, so its schedule and the latency of each answer are exact.
--
-- Each connection has an absolute schedule: request k is due at start + k / rate. wrk's delay()
-- is whole milliseconds, so a request may leave up to 1 ms before it is due (never late by the
-- rounding); a request that leaves late because the previous answer came late is timed from
-- when it was due. The schedule being absolute, the achieved rate converges on the target
-- whenever the server keeps up, and falls short (reported) when it does not.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } sg_timespec;
int clock_gettime(int clk, sg_timespec *ts);
]]
local ts = ffi.new("sg_timespec")
local function now_us()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local f = assert(io.open(os.getenv("SG_BODY"), "rb"))
local body = f:read("*a")
f:close()
local interval = 1e6 / assert(tonumber(os.getenv("SG_CONN_RATE")))

local due = nil  -- when the request being sent (or next to be sent) is due
local from = nil -- what its latency is measured from
lat = {}         -- corrected latencies in microseconds; global: done() reads it per thread
bad = 0

local threads = {}
function setup(thread)
    table.insert(threads, thread)
end

local req
function init(args)
    req = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

-- wrk asks delay() before every request of a connection, its first one too.
function delay()
    local now = now_us()
    if due == nil then
        due = now
    else
        due = due + interval
    end
    local d = (due - now) / 1000
    return d > 0 and math.floor(d) or 0
end

function request()
    from = math.min(due or now_us(), now_us())
    return req
end

function response(status, headers, resp)
    lat[#lat + 1] = now_us() - from
    if status ~= 200 then
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    local all, errors = {}, 0
    for _, t in ipairs(threads) do
        for _, v in ipairs(t:get("lat")) do
            all[#all + 1] = v
        end
        errors = errors + t:get("bad")
    end
    table.sort(all)
    local function pct(p)
        if #all == 0 then
            return 0
        end
        return all[math.max(1, math.ceil(#all * p / 100))] / 1000
    end
    io.write(string.format("paced: requests %d seconds %.3f p50_ms %.3f p99_ms %.3f " ..
        "p999_ms %.3f max_ms %.3f wrk_p99_ms %.3f non200 %d errors %d\n",
        summary.requests, summary.duration / 1e6, pct(50), pct(99), pct(99.9), pct(100),
        latency:percentile(99) / 1000, errors,
        summary.errors.connect + summary.errors.read + summary.errors.write +
        summary.errors.status + summary.errors.timeout))
end
