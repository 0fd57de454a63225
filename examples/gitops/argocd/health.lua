-- Argo CD health for every CellCloud kind, following kstatus as Flux does:
-- Healthy = Ready=True at the observed generation; Degraded = Stalled=True; else Progressing.
local hs = { status = "Progressing", message = "Waiting for the controller" }
if obj.status == nil then return hs end
local gen = obj.metadata.generation
if gen ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < gen) then
  hs.message = "Spec change not observed yet"
  return hs
end
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Stalled" and c.status == "True" then
      hs.status = "Degraded"
      hs.message = c.reason .. ": " .. c.message
      return hs
    end
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      if c.status == "True" then hs.status = "Healthy" end
      hs.message = c.message
      return hs
    end
  end
end
return hs
