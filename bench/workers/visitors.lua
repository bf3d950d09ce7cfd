-- wrk script for scenario (l): every request from another visitor (CF-Connecting-IP varies),
-- so page views are counted, not filtered out as one visitor's reloads.
local n = 0
request = function()
  n = n + 1
  wrk.headers["CF-Connecting-IP"] = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format(nil)
end
