-- Scenario 5's requests (poll.lua), counting the answers by X-Cache: HIT (within status_ttl, from
-- memory) or MISS/COALESCED (waited on a vendor call). Printed at the end: the share that waited
-- on the vendor is what the tail latency is made of. A diagnostic run of its own: reading every
-- answer's headers in Lua slows wrk.
local first = tonumber(os.getenv("BENCH_POLL_FIRST") or "900000")
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init()
    counts = {}
end

request = function()
    return wrk.format("GET", "/tasks/capmonster/" .. (first + math.random(0, 999)))
end

function response(status, headers, body)
    local cache = headers["X-Cache"] or headers["x-cache"] or "-"
    counts[cache] = (counts[cache] or 0) + 1
end

function done(summary, latency, requests)
    local total, merged = 0, {}
    for _, thread in ipairs(threads) do
        for cache, n in pairs(thread:get("counts")) do
            merged[cache] = (merged[cache] or 0) + n
            total = total + n
        end
    end
    local parts = {}
    for cache, n in pairs(merged) do
        table.insert(parts, string.format("%s %.2f%%", cache, 100 * n / total))
    end
    table.sort(parts)
    io.write("X-Cache: " .. table.concat(parts, ", ") .. "\n")
end
