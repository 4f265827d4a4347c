# Reading the machine's apt sources, for scripts/setup.sh (sourced; defines functions only).
#
#   apt_suite_uri DIR SUITE   the first `deb` URI that DIR (an /etc/apt) names for exactly SUITE,
#                             in apt's reading order: DIR/sources.list, then DIR/sources.list.d/
#                             *.list (one-line format) and *.sources (deb822) by name. Fails,
#                             printing nothing, when no source names SUITE.
#   backports_mirror [DIR]    the mirror for bookworm-backports: the one DIR (default /etc/apt)
#                             already uses for bookworm, else Debian's default mirror.

DEBIAN_DEFAULT_MIRROR=http://deb.debian.org/debian

# One-line format: `deb [opt=value ...] URI SUITE [COMPONENT ...]`; comments start with #.
_apt_list_uri() {
  awk -v suite="$2" '
    { sub(/#.*/, ""); gsub(/\[[^]]*\]/, " ") }
    $1 == "deb" && $3 == suite && $2 ~ /^[a-z+]+:\/\// { print $2; exit }
  ' "$1"
}

# deb822 format: stanzas separated by blank lines, fields "Name: value" (names case-insensitive,
# values continued on indented lines), several URIs and suites per stanza, "Enabled: no" to skip one.
_apt_sources_uri() {
  awk -v suite="$2" '
    function flush(   n, i, u) {
      gsub(/[ \t]+/, " ", types); gsub(/[ \t]+/, " ", suites)
      if (index(" " types " ", " deb ") && enabled !~ /^(no|false|0)$/ && index(" " suites " ", " " suite " ")) {
        n = split(uris, u, /[ \t]+/)
        for (i = 1; i <= n; i++) if (u[i] ~ /^[a-z+]+:\/\//) { print u[i]; found = 1; exit }
      }
      types = uris = suites = enabled = last = ""
    }
    /^#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ {
      if (last == "types") types = types " " $0
      else if (last == "uris") uris = uris " " $0
      else if (last == "suites") suites = suites " " $0
      next
    }
    {
      key = tolower($0); sub(/:.*/, "", key)
      value = $0; sub(/^[^:]*:[ \t]*/, "", value); sub(/[ \t]+$/, "", value)
      last = key
      if (key == "types") types = value
      else if (key == "uris") uris = value
      else if (key == "suites") suites = value
      else if (key == "enabled") enabled = tolower(value)
    }
    END { if (!found) flush() }
  ' "$1"
}

apt_suite_uri() {
  local dir=$1 suite=$2 file uri
  for file in "$dir/sources.list" "$dir"/sources.list.d/*; do
    [ -f "$file" ] || continue
    case $file in
      */sources.list | *.list) uri=$(_apt_list_uri "$file" "$suite") ;;
      *.sources) uri=$(_apt_sources_uri "$file" "$suite") ;;
      *) continue ;;
    esac
    if [ -n "$uri" ]; then
      echo "$uri"
      return 0
    fi
  done
  return 1
}

backports_mirror() {
  apt_suite_uri "${1:-/etc/apt}" bookworm || echo "$DEBIAN_DEFAULT_MIRROR"
}
