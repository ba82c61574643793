-- Training sessions for wrk: each request grades 50 items (LEDGER_SESSION_ITEMS) in one
-- POST /api/v1/sessions/assess, new or changed points on pairs this thread owns.
--
-- Environment: LEDGER_INSTRUCTOR_TOKENS (comma-separated), LEDGER_LICENSES (count),
--              LEDGER_SKILLS (comma-separated), LEDGER_SESSION_ITEMS, LEDGER_WRK_THREADS.

local threads = {}
local thread_count = tonumber(os.getenv("LEDGER_WRK_THREADS") or "1")
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local function split(text)
  local out = {}
  for item in string.gmatch(text or "", "[^,]+") do table.insert(out, item) end
  return out
end

function init(args)
  tokens = split(os.getenv("LEDGER_INSTRUCTOR_TOKENS"))
  licenses = tonumber(os.getenv("LEDGER_LICENSES") or "100")
  skills = split(os.getenv("LEDGER_SKILLS"))
  items = tonumber(os.getenv("LEDGER_SESSION_ITEMS") or "50")
  token = tokens[(id % #tokens) + 1]
  statuses = {}
  item_statuses = {}
  math.randomseed(os.time() + id * 7919)
end

function request()
  local parts = {}
  local seen = {}
  for n = 1, items do
    local license, skill
    repeat  -- licenses partitioned by thread (license % threads == thread id); pairs distinct
      license = id + 1 + thread_count * math.random(0, math.floor((licenses - 1 - id) / thread_count))
      skill = skills[math.random(1, #skills)]
    until not seen[license .. skill]
    seen[license .. skill] = true
    parts[n] = string.format('{"license_id": %d, "skill": "%s", "points_earned": %d, ' ..
      '"points_total": 100}', license, skill, math.random(0, 100))
  end
  return wrk.format("POST", "/api/v1/sessions/assess",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
    '{"items": [' .. table.concat(parts, ", ") .. ']}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  for item in body:gmatch('"index":%d+,"status":(%d+)') do
    item_statuses[item] = (item_statuses[item] or 0) + 1
  end
end

function done(summary, latency, requests)
  local status_totals, item_totals = {}, {}
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("statuses")) do
      status_totals[tostring(k)] = (status_totals[tostring(k)] or 0) + v
    end
    for k, v in pairs(thread:get("item_statuses")) do
      item_totals[tostring(k)] = (item_totals[tostring(k)] or 0) + v
    end
  end
  local function json(map)
    local out = {}
    for k, v in pairs(map) do table.insert(out, '"' .. k .. '": ' .. v) end
    return "{" .. table.concat(out, ", ") .. "}"
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "statuses": %s, "items": %s}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    json(status_totals), json(item_totals)))
end
