# The ledger's image: API (`ledger serve`), projector (`ledger project`) and migrations (`ledger db upgrade`).
# Production settings: LEDGER_ENV=production, so `ledger serve` refuses to start without a
# LEDGER_JWT_SECRET of at least 32 bytes and never seeds demo accounts. Every package comes from
# requirements.lock, checked against its hashes (regenerate with `make lock`).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LEDGER_MIGRATIONS_DIR=/app/migrations \
    LEDGER_ENV=production
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && pip check
USER nobody
EXPOSE 8000
CMD ["ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]
