-- A login flood for wrk: each connection posts bad logins, each for an email no account has (as
-- a spraying attacker would, so the per-account limit never applies), from what the server
-- sees as one address (the bench raises the per-address limit out of the way).
-- PACE=second: each connection sends about one login a second (a pause drawn uniformly from
-- 0.5–1.5 s, so the connections do not move in step); PACE=none: back to back.

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  sent = 0
  paced = os.getenv("PACE") == "second"
  math.randomseed(os.time() + id * 7919)
end

function delay()
  if paced then return math.random(500, 1500) end
  return 0
end

function request()
  sent = sent + 1
  local body = string.format('{"email": "flood-%d-%d@bench.test", "password": "wrong-password"}',
    id, sent)
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end
