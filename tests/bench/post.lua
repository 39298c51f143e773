-- post.lua - wrk script: POST one AdmissionReview body over and over, as fast as the connection
-- allows (the paced run uses paced.lua).
--   SG_BODY       file with the request body (a captured FlinkDeployment review)
local f = assert(io.open(os.getenv("SG_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
