"""Config and topic management: Kafka's controller-side managers, owned by each Broker.

- ``configs.ConfigManager``: Describe/AlterConfigs of topics, brokers and loggers (Kafka's
  ``ConfigHelper`` and ``ConfigurationControlManager``), with the broker's dynamic configs.
- ``topics.TopicManager``: create/delete topics, add partitions, delete records (Kafka's
  ``ReplicationControlManager`` checks and messages).
- ``topic_configs`` / ``broker_configs``: the catalogs of Kafka's topic and broker configs;
  ``loggers``: the BROKER_LOGGER resource; ``topic_names``: Kafka's topic-name rules.
"""
