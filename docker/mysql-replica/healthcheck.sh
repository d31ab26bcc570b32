# Healthcheck of mysql-replica (run by bash inside the container): healthy once the real server
# accepts TCP connections, both replication threads run, the app user has arrived from the
# primary and super_read_only is on.
state=$(mysql -h127.0.0.1 -P3306 -uroot -p"$MYSQL_ROOT_PASSWORD" -N -B -e "SELECT
    (SELECT SERVICE_STATE FROM performance_schema.replication_connection_status WHERE CHANNEL_NAME = ''),
    (SELECT SERVICE_STATE FROM performance_schema.replication_applier_status WHERE CHANNEL_NAME = ''),
    (SELECT COUNT(*) FROM mysql.user WHERE user = 'app'),
    @@GLOBAL.super_read_only" 2>/dev/null) || exit 1
[ "$state" = "$(printf 'ON\tON\t1\t1')" ]
