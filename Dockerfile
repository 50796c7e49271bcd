# AtomicSeats: one image for every process (web, dispatcher, scheduler, RQ workers, SMTP sink, migrations);
# docker-compose.yml picks the process with `command`, as the Procfile does.

# Browser assets come from npm at build time and are never committed (same versions as scripts/setup.sh).
FROM node:22-bookworm-slim AS assets
WORKDIR /assets
RUN npm install --no-audit --no-fund --save-exact --loglevel=error \
        socket.io-client@4.8.4 axe-core@4.14.1 chart.js@4.6.1 swagger-ui-dist@5.35.0 \
    && mkdir vendor \
    && cp node_modules/socket.io-client/dist/socket.io.min.js vendor/socket.io.min.js \
    && cp node_modules/axe-core/axe.min.js vendor/axe.min.js \
    && cp node_modules/chart.js/dist/chart.umd.min.js vendor/chart.umd.min.js \
    && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js vendor/swagger-ui-bundle.js \
    && cp node_modules/swagger-ui-dist/swagger-ui.css vendor/swagger-ui.css

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
COPY --from=assets /assets/vendor/ static/vendor/
RUN useradd --system --uid 10001 --home /app atomicseats && mkdir -p /data/mail && chown atomicseats /data/mail
USER atomicseats
ENV ATOMICSEATS_ENV=production WEB_HOST=0.0.0.0 PORT=5000 FLASK_APP=wsgi
# 5000: web (the default command); 5001: realtime (docker-compose runs it with uvicorn).
EXPOSE 5000 5001
# RQ imports job code from the working directory: every process runs from /app.
CMD ["sh", "-c", "exec gunicorn -b \"$WEB_HOST:$PORT\" wsgi:app"]
