-- Runs once, when the PostgreSQL volume is first initialised: one database per consumer.
-- pymk (the POSTGRES_DB): dead letters and pymk's metadata; mlflow: MLflow's backend store;
-- prefect: Prefect's server state.
CREATE DATABASE mlflow OWNER pymk;
CREATE DATABASE prefect OWNER pymk;
