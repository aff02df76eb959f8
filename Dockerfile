# The Pulse image: one image for web, worker, beat and migrate (docker-compose.yml picks the command).

# Translations are compiled in a throwaway stage, so gettext stays out of the final image.
FROM python:3.11-slim AS translations
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# A .po file that does not compile fails the build (find -exec ... + passes on the exit code).
RUN find . -name '*.po' -path '*/LC_MESSAGES/*' \
        -exec sh -c 'for po; do msgfmt --check -o "${po%.po}.mo" "$po" || exit 1; done' _ {} +

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PULSE_DATA_DIR=/app/data

RUN groupadd --system pulse \
    && useradd --system --gid pulse --home-dir /app --no-create-home --shell /usr/sbin/nologin pulse

WORKDIR /app
# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The code stays owned by root, so the running app cannot rewrite itself.
COPY --from=translations /src/ ./

# Static files are collected into the image and served by whitenoise. The settings refuse to
# load without a SECRET_KEY and a seal key when DEBUG is off, so this one step gets throwaway
# keys that are used for nothing else (the real ones come from .env at run time).
RUN DEBUG=0 PULSE_HTTPS=0 SECRET_KEY=collectstatic-only-not-a-secret \
        PULSE_SEAL_KEY=collectstatic-only-not-a-secret-either-0123456789 \
        python manage.py collectstatic --noinput \
    && mkdir -p /app/data/beat \
    && chown -R pulse:pulse /app/data

USER pulse
EXPOSE 8000
CMD ["gunicorn", "-c", "pulse/gunicorn.conf.py", "pulse.wsgi"]
