-- wrk script for a request that is the same every time (GET, HEAD).
--   wrk -s bench/static.lua URL -- METHOD
-- The static request is formatted once per thread, after init().

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

function init(args)
   wrk.method = args[1] or "GET"
end
