-- The Kafka cluster the click events come from. The broker's address is read from the
-- environment when the pipeline runs: `export KAFKA_BOOTSTRAP=$(scripts/services/kafka.sh start)`
-- starts a local one and sets it (see README.md).
CREATE KAFKA CONNECTION events HOSTS = ('${KAFKA_BOOTSTRAP}');
