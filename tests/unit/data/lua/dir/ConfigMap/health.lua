-- core group: Argo CD keeps these at <Kind>/health.lua
hs = {}
if obj.data ~= nil and obj.data["model.version"] ~= nil then
  hs.status = "Healthy"
  hs.message = "serving model " .. obj.data["model.version"]
else
  hs.status = "Degraded"
  hs.message = "no model.version"
end
return hs
