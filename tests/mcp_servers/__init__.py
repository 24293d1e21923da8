"""Tests of the MCP servers and their shared parts."""
