"""Tortoise models, one module per part of the domain. Imports nothing of ours."""

MODEL_MODULES = [
    "models.accounts",
    "models.catalog",
    "models.reviews",
    "models.orders",
    "models.oauth",
    "models.persisted",
]
