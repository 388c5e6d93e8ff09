local replicas = obj.spec.replicas or 1
local available = (obj.status and obj.status.availableReplicas) or 0
if available >= replicas then
  return {status = "Healthy", message = available .. " of " .. replicas .. " available (from the folder)"}
end
return {status = "Progressing", message = available .. " of " .. replicas .. " available (from the folder)"}
