-- A payment for a new order on every request: nothing is a replay, every request writes.
local counter = 0
prefix = "o" -- replaced per thread by setup()

function setup(thread)
  thread:set("prefix", string.format("t%d%d", math.random(1, 1000000000), os.time()))
end

function init(args)
  counter = 0
end

request = function()
  counter = counter + 1
  local order = string.format("%s-%d", prefix, counter)
  local body = string.format(
    '{"message": "I want to pay $100 for order #%s", "user_id": "bench-user", "context": {"order_id": "%s", "currency": "USD"}}',
    order, order)
  return wrk.format("POST", "/process", { ["Content-Type"] = "application/json" }, body)
end
