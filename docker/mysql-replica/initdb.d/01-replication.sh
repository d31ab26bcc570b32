# Replica, first start only. The mysql:8.4 image's entrypoint sources this file (it is not
# executable) after creating root, while a temporary server runs without networking.
# docker-compose.yml starts this container only once the primary is healthy, i.e. its own init
# (users, replication account) is done and it accepts TCP connections.
#
# Points the replica at the primary with GTID auto-positioning, so it fetches every transaction
# it lacks, including the database and users the primary's init created. The temporary server
# may not get far before the entrypoint stops it; the replication threads start again with the
# real server (skip_replica_start is off), and the healthcheck (docker/mysql-replica/healthcheck.sh)
# waits until they run and the users have arrived.

: "${MYSQL_ROOT_PASSWORD:?}" "${REPL_PASSWORD:?REPL_PASSWORD must be set}"

splitrail_sql_string() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\'\'}"
}

mysql --protocol=socket ${SOCKET:+--socket="$SOCKET"} -uroot -p"$MYSQL_ROOT_PASSWORD" <<SQL
-- GET_SOURCE_PUBLIC_KEY = 1: 'repl' uses caching_sha2_password, MySQL 8.4's default; without
-- TLS, the first (full) authentication sends the password encrypted with the primary's RSA
-- public key, which this option lets the replica request from the primary.
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST = 'mysql-primary',
  SOURCE_PORT = 3306,
  SOURCE_USER = 'repl',
  SOURCE_PASSWORD = $(splitrail_sql_string "$REPL_PASSWORD"),
  SOURCE_AUTO_POSITION = 1,
  GET_SOURCE_PUBLIC_KEY = 1;
START REPLICA;

-- Read-only for every user, root included; the replication threads still apply the primary's
-- transactions. Set now, after the entrypoint's own writes, and persisted (mysqld-auto.cnf in
-- the data volume) so it holds on every later start.
SET PERSIST read_only = ON;
SET PERSIST super_read_only = ON;
SQL
