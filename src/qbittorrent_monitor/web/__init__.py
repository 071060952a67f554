"""The HTTP side: /health (Docker health check) served by uvicorn in the monitor's process."""
