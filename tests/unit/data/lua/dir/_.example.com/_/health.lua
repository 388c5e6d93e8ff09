-- Argo CD's folder for the glob *.example.com/*
return {status = "Suspended", message = "from the glob folder: " .. obj.kind}
