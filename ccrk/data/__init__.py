"""What training and evaluation consume: datasets, collation, masking, transforms, caption cleaning."""
