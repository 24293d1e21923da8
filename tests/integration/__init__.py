"""Integration tests against servers this machine cannot run; a module without its server URL skips with the reason."""
