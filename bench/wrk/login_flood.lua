-- A login flood for wrk: each connection posts bad logins, each for an email no account has (as
-- a spraying attacker would, so the per-account limit never applies), from what the server
-- sees as one address (the bench raises the per-address limit out of the way). PACE=retry
-- waits the Retry-After of a refusal before the next login (so ~1 login per connection per
-- second once the password-check slots are full); PACE=none sends back to back.

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  sent = 0
  wait_ms = 0
  paced = os.getenv("PACE") == "retry"
end

function delay()
  return wait_ms
end

function request()
  sent = sent + 1
  local body = string.format('{"email": "flood-%d-%d@bench.test", "password": "wrong-password"}',
    id, sent)
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  -- One Lua state per wrk thread: the last answer of any of its connections sets the pause.
  local retry = tonumber(headers["Retry-After"] or headers["retry-after"] or "")
  wait_ms = (paced and retry) and retry * 1000 or 0
end
