#!/bin/sh
# The image's entrypoint: runs the command it is given (`hub serve`, `hub worker`, ...).
# With HUB_DEMO set to 1/true/yes, `hub serve` first migrates the database and loads the
# demo catalog if the database holds none (an existing catalog is left as it is), so
# `HUB_DEMO=1 docker compose -f docker/compose.yaml up` answers queries at once.
set -eu

case "$(printf '%s' "${HUB_DEMO:-}" | tr '[:upper:]' '[:lower:]')" in
  1 | true | yes | on)
    if [ "${1:-}" = "hub" ] && [ "${2:-}" = "serve" ]; then
      echo "hub: HUB_DEMO is set: migrating and seeding the demo catalog into an empty database"
      hub migrate
      hub seed --demo --if-empty
    fi
    ;;
  "" | 0 | false | no | off) ;;
  *)
    echo "hub: invalid setting HUB_DEMO: use 1 or 0 (got '${HUB_DEMO}')" >&2
    exit 2
    ;;
esac

exec "$@"
