-- wrk script: counts answers by status and the lists that came back partial
-- (200 with X-Tricircle-Skipped-Pods), then prints one JSON line for the
-- driver (bench/overload.py). The token comes from the environment.
--   TOKEN=... wrk -s bench/wrk/count.lua ... URL

local token = os.getenv("TOKEN") or ""
wrk.headers["X-Auth-Token"] = token
wrk.headers["Accept"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, shed, partial, other = 0, 0, 0, 0
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    ok = ok + 1
    if headers["x-tricircle-skipped-pods"] or headers["X-Tricircle-Skipped-Pods"] then
      partial = partial + 1
    end
  elseif status == 503 then
    shed = shed + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total = { ok = 0, shed = 0, partial = 0, other = 0 }
  local by_status = {}
  for _, t in ipairs(threads) do
    total.ok = total.ok + t:get("ok")
    total.shed = total.shed + t:get("shed")
    total.partial = total.partial + t:get("partial")
    total.other = total.other + t:get("other")
    for s, n in pairs(t:get("statuses")) do
      by_status[s] = (by_status[s] or 0) + n
    end
  end
  local parts = {}
  for s, n in pairs(by_status) do
    table.insert(parts, string.format('"%d": %d', s, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"ok": %d, "unavailable": %d, "partial": %d, "other_status": %d, "by_status": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    total.ok, total.shed, total.partial, total.other, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
