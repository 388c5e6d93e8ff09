-- actions are not health checks: this file is never read (it does not compile)
return {{{
