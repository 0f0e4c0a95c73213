-- wrk script uploading objects under unique names.
--   wrk -s bench/put.lua CONTAINER_URL -- NAME_PREFIX BODY_BYTES
-- Each thread PUTs CONTAINER_URL/NAME_PREFIX-<thread>-<n> for n = 1, 2, ...
-- with a body of BODY_BYTES bytes; NAME_PREFIX makes names unique per run.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local threads = 0

function setup(thread)
   thread:set("thread_id", threads)
   threads = threads + 1
end

local path, body
local counter = 0

function init(args)
   path = wrk.path .. "/" .. (args[1] or "obj") .. "-" .. thread_id .. "-"
   body = string.rep("x", tonumber(args[2] or "4096"))
end

function request()
   counter = counter + 1
   return wrk.format("PUT", path .. counter, nil, body)
end
