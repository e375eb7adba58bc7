import type { Redis } from 'ioredis'

/**
 * Puts the queued jobs of one project in the order of their own priorities (`TrainModelJob.priority`, then arrival)
 * without moving them past any other project's job: the project's places in BullMQ's prioritized set (their scores)
 * are kept as a set and handed out again, lowest score to its most urgent job. One step in Redis, so a worker takes
 * either the old order or the new. KEYS: the project's job index, BullMQ's prioritized set. ARGV: the job hash
 * prefix (`<prefix>:training:`). Reads every job the index holds (those BullMQ still retains): O(project's jobs).
 */
const REORDER_SCRIPT = `
local members = redis.call("ZRANGE", KEYS[1], 0, -1)
local jobs, slots = {}, {}
for _, member in ipairs(members) do
  local id = string.sub(member, 18)
  local score = redis.call("ZSCORE", KEYS[2], id)
  if score then
    local priority = 50
    local ok, data = pcall(cjson.decode, redis.call("HGET", ARGV[1] .. id, "data") or "null")
    if ok and type(data) == "table" and type(data.priority) == "number" then priority = data.priority end
    score = tonumber(score)
    jobs[#jobs + 1] = { id = id, priority = priority, score = score }
    slots[#slots + 1] = score
  end
end
table.sort(slots)
table.sort(jobs, function(a, b)
  if a.priority ~= b.priority then return a.priority < b.priority end
  return a.score < b.score
end)
for i, job in ipairs(jobs) do
  if job.score ~= slots[i] then redis.call("ZADD", KEYS[2], string.format("%.0f", slots[i]), job.id) end
end
return #jobs
`

/** See REORDER_SCRIPT; `jobKeyPrefix` is BullMQ's `queue.toKey('')`. */
export async function reorderProjectJobs(redis: Redis, indexKey: string, prioritizedKey: string, jobKeyPrefix: string): Promise<void> {
  await redis.eval(REORDER_SCRIPT, 2, indexKey, prioritizedKey, jobKeyPrefix)
}
