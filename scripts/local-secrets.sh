# Sourced by run-standalone.sh with one argument, the secrets file to keep:
# exports AIRFLOW__API_AUTH__JWT_SECRET (64 random bytes, hex: HS512's
# recommended key length) and AIRFLOW__API__SECRET_KEY (32 random bytes),
# generated on first use into a file only the owner can read.  A value
# already in the environment is kept.
secrets_file="$1"
if [ ! -s "$secrets_file" ]; then
    ( umask 077
      python - >"$secrets_file" <<'PY'
import secrets
print(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_hex(64)}")
print(f"AIRFLOW__API__SECRET_KEY={secrets.token_hex(32)}")
PY
    )
fi
chmod 600 "$secrets_file"
while IFS='=' read -r name value; do
    [ -n "$name" ] && [ -z "${!name:-}" ] && export "$name=$value"
done <"$secrets_file"
unset secrets_file name value
