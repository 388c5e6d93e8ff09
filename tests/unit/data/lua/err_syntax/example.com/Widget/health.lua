hs = {}
if obj.status ~= nil then
  hs.status = = "Healthy"
end
return hs
