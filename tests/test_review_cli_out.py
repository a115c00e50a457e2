"""Review finding: --out and --report naming one path are refused only after training."""

from nablanet.cli.main import main


def test_out_and_report_on_one_path_refused_before_training(tmp_path, capsys):
    data = tmp_path / "s.csv"
    data.write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n1,3,0\n2,2,1\n")
    same = tmp_path / "m.npz"
    rc = main(["train", "--data", str(data), "--target", "y", "--epochs", "1", "-q",
               "--out", str(same), "--report", str(same)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--report" in err and "--out" in err
    assert not same.exists()  # nothing trained, nothing written
