# Healthcheck of mysql-primary (run by bash inside the container): healthy once the real server
# accepts TCP connections (during init the temporary server has networking off) and the users of
# initdb.d/01-users.sh exist.
users=$(mysql -h127.0.0.1 -P3306 -uroot -p"$MYSQL_ROOT_PASSWORD" -N -B \
  -e "SELECT COUNT(*) FROM mysql.user WHERE user IN ('app', 'repl')" 2>/dev/null) || exit 1
[ "$users" = 2 ]
