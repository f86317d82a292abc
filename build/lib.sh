# shellcheck shell=bash
# Shared helpers for the scripts in build/ and .ci/. Source it, don't run it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It sets PW_REPO (absolute path of the repository) and PW_PROG (the
# calling script's name, for messages); everything else is a function.

# shellcheck disable=SC2034 # used by the scripts that source this file
PW_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PW_PROG="${0#"$PW_REPO"/}"
PW_PROG="${PW_PROG#./}"

# Messages go to stderr so that stdout stays usable by callers.
pw_say() { printf '%s: %s\n' "$PW_PROG" "$*" >&2; }
pw_die() { pw_say "$*"; exit 1; }

pw_is_root() { [ "$(id -u)" -eq 0 ]; }

# Prints the path of an executable: $1 if the environment variable named $2
# is empty and $1 is executable, else that variable's value, else the command
# $3 from PATH. Fails if none of them is executable.
pw_find_tool() {
    local path="${!2:-$1}"
    if [ -x "$path" ]; then
        printf '%s\n' "$path"
    elif [ -z "${!2:-}" ] && path="$(command -v "$3" 2>/dev/null)"; then
        printf '%s\n' "$path"
    else
        return 1
    fi
}

# The server binary (Debian ships no "httpd"); APACHE2=path overrides it.
pw_apache2() { pw_find_tool /usr/sbin/apache2 APACHE2 apache2; }

# apxs from apache2-dev; APXS=path overrides it.
pw_apxs() { pw_find_tool /usr/bin/apxs APXS apxs; }

# True if something accepts TCP connections on 127.0.0.1:$1. A listener on
# 0.0.0.0 answers there too, and would also make our bind fail.
pw_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True if $1 is a decimal integer in [$2, $3].
pw_is_uint_in() {
    [[ "$1" =~ ^[0-9]{1,9}$ ]] && [ "$((10#$1))" -ge "$2" ] \
        && [ "$((10#$1))" -le "$3" ]
}
