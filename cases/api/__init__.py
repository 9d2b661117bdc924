"""The integration API (``/api/v1/``): DRF viewsets over ``cases.services``. See docs/api.md."""
