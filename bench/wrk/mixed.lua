-- Mixed assessment workload for wrk: ~70 % new or changed points, ~20 % identical repeats,
-- ~10 % validations of assessments this thread created. Each thread owns its own pairs, so a
-- "repeat" really repeats the pair's current points. DELAY_MS (optional) pauses each connection
-- between requests, to hold the load at a fraction of the maximum (the half-load run).
--
-- Environment: LEDGER_INSTRUCTOR_TOKENS (comma-separated), LEDGER_ADMIN_TOKEN,
--              LEDGER_LICENSES (count), LEDGER_SKILLS (comma-separated), DELAY_MS (optional),
--              LEDGER_WRK_THREADS (the -t value, for partitioning pairs between threads).

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
  admin = os.getenv("LEDGER_ADMIN_TOKEN")
  licenses = tonumber(os.getenv("LEDGER_LICENSES") or "100")
  skills = split(os.getenv("LEDGER_SKILLS"))
  pause = tonumber(os.getenv("DELAY_MS") or "0")
  token = tokens[(id % #tokens) + 1]
  last = {}        -- pair key -> points last sent
  keys = {}        -- pair keys with points, for repeats
  created = {}     -- assessment ids to validate
  counts = {assess = 0, repeat_ = 0, validate = 0}
  statuses = {}
  math.randomseed(os.time() + id * 7919)
end

local function pair()
  -- licenses are partitioned by thread: license % threads == thread id
  local license = id + 1 + thread_count * math.random(0, math.floor((licenses - 1 - id) / thread_count))
  local skill = skills[math.random(1, #skills)]
  return license, skill
end

local function assess(license, skill, points)
  local key = license .. "/" .. skill
  if last[key] == nil then table.insert(keys, key) end
  last[key] = points
  return wrk.format("POST", "/api/v1/licenses/" .. license .. "/skills/" .. skill .. "/assess",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
    '{"points_earned": ' .. points .. ', "points_total": 100}')
end

function request()
  local roll = math.random()
  if roll < 0.10 and #created > 0 then
    counts.validate = counts.validate + 1
    local assessment = table.remove(created, 1)
    return wrk.format("POST", "/api/v1/assessments/" .. assessment .. "/validate",
      {["Authorization"] = "Bearer " .. admin}, "")
  elseif roll < 0.30 and #keys > 0 then
    counts.repeat_ = counts.repeat_ + 1
    local key = keys[math.random(1, #keys)]
    local license, skill = key:match("([^/]+)/(.+)")
    return assess(license, skill, last[key])
  end
  counts.assess = counts.assess + 1
  local license, skill = pair()
  local key = license .. "/" .. skill
  local points = math.random(0, 100)
  if last[key] == points then points = (points + 1) % 101 end
  return assess(license, skill, points)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 and #created < 1000 then
    local assessment = body:match('"id":"([0-9a-f%-]+)"')
    if assessment then table.insert(created, assessment) end
  end
end

function delay()
  return pause
end

function done(summary, latency, requests)
  local totals = {assess = 0, repeat_ = 0, validate = 0}
  local status_totals = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for k, v in pairs(c) do totals[k] = totals[k] + v end
    local s = thread:get("statuses")
    for k, v in pairs(s) do status_totals[tostring(k)] = (status_totals[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(status_totals) do table.insert(parts, '"' .. k .. '": ' .. v) end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "assess": %d, "repeat": %d, "validate": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    totals.assess, totals.repeat_, totals.validate, table.concat(parts, ", ")))
end
