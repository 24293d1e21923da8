"""PromptSales generators: model loading and validation, SQL rendering, deployment and data generation."""
