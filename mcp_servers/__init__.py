"""MCP servers of PromptSales and their shared parts: cache, guard, output models."""
