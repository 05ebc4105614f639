-- paths.lua - wrk script for bench.py: GET every path listed in a file (one per
-- line, given after `--`), in turn, so that a read benchmark covers many
-- different images instead of one cached one.
local paths, i = {}, 0

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
