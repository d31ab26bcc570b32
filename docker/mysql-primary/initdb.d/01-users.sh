# Primary, first start only. The mysql:8.4 image's entrypoint sources this file (it is not
# executable) after creating root, while a temporary server runs without networking.
#
# Creates the application's database and users. These statements go to the binary log with the
# primary's GTIDs, so the replica receives them through replication: nothing is created on the
# replica by hand, and its GTID set stays a subset of the primary's.
#
# Passwords come from the environment set in docker-compose.yml.

: "${MYSQL_ROOT_PASSWORD:?}" "${APP_PASSWORD:?APP_PASSWORD must be set}" "${REPL_PASSWORD:?REPL_PASSWORD must be set}"

# A password as a quoted SQL string literal: quotes doubled, backslashes escaped.
splitrail_sql_string() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\'\'}"
}

mysql --protocol=socket ${SOCKET:+--socket="$SOCKET"} -uroot -p"$MYSQL_ROOT_PASSWORD" <<SQL
CREATE DATABASE IF NOT EXISTS app;

-- The application's user, which the proxy also logs in as. MySQL 8.4 stores its password with
-- caching_sha2_password (the default). Data privileges on its own database only: no SUPER and
-- no CONNECTION_ADMIN, so read_only / super_read_only on the replica apply to it.
CREATE USER 'app'@'%' IDENTIFIED BY $(splitrail_sql_string "$APP_PASSWORD");
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES,
      CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW, TRIGGER
  ON app.* TO 'app'@'%';
-- For the proxy's monitor, which logs in as the first user of docker/proxy.yaml: replica
-- status and lag (SHOW REPLICA STATUS) need REPLICATION CLIENT.
GRANT REPLICATION CLIENT ON *.* TO 'app'@'%';

-- The replica's receiver thread logs in as this user (caching_sha2_password as well; the
-- replica asks for the primary's RSA public key, see the replica's init script).
CREATE USER 'repl'@'%' IDENTIFIED BY $(splitrail_sql_string "$REPL_PASSWORD");
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
SQL
