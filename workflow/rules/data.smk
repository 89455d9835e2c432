rule prepare_data:
    output:
        manifest=MANIFEST,
        images=directory(IMAGES),
    log:
        "results/logs/prepare_data/{size}.log",
    conda:
        "../../envs/data.yaml"
    params:
        source=config["data"]["path"],
        # Its images' names, sizes and times (infbench.planning.sources): a change of the dataset reruns this step.
        source_images=dataset_listing(config["data"]["path"]),
        val_fraction=config["data"]["val_fraction"],
        seed=config["data"]["seed"],
        versions=versions("scikit-learn", "pillow", "numpy"),
        code=code("prepare_data.py"),
    script:
        "../../scripts/prepare_data.py"
