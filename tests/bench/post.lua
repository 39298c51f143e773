-- post.lua - wrk script: POST one AdmissionReview body over and over.
--   SG_BODY       file with the request body (a captured FlinkDeployment review)
--   SG_CONN_RATE  requests per second per connection; unset or 0 means as fast as possible.
-- wrk's delay() takes whole milliseconds; a running remainder keeps the average rate exact.
local f = assert(io.open(os.getenv("SG_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

local rate = tonumber(os.getenv("SG_CONN_RATE") or "0") or 0
local carry = 0

function delay()
    if rate <= 0 then
        return 0
    end
    carry = carry + 1000 / rate
    local d = math.floor(carry)
    carry = carry - d
    return d
end
