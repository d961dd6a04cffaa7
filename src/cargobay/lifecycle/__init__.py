"""The registry's lifecycle features: one module per feature, between the API and the stores."""
