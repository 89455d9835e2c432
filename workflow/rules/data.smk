rule prepare_data:
    input:
        code=code("prepare_data.py"),
    output:
        manifest=MANIFEST,
        images=directory(IMAGES),
    log:
        "results/logs/prepare_data.log",
    conda:
        "../../envs/data.yaml"
    params:
        source=config["data"]["path"],
        image_size=config["model"]["image_size"],
        val_fraction=config["data"]["val_fraction"],
        seed=config["data"]["seed"],
        versions=versions("scikit-learn", "pillow", "numpy"),
    script:
        "../../scripts/prepare_data.py"
