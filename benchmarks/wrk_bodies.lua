-- Sends each line of BENCH_BODIES (one JSON body per line) once, spread over wrk's threads.
local bodies = {}
local counter = 0
local step = 1
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("offset", #threads)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    table.insert(bodies, line)
  end
  step = tonumber(os.getenv("BENCH_THREADS") or "1")
  counter = offset
end

function request()
  local body = bodies[((counter - 1) % #bodies) + 1]
  counter = counter + step
  return wrk.format("POST", "/api/v1/verify", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY"),
  }, body)
end
