"""The built-in security-question bank (the questions Entra ID offers), in Japanese and English."""

from django.db import migrations

QUESTIONS = [
    ("最初の仕事をした都市はどこですか?", "In what city was your first job?"),
    ("子どもの頃のニックネームは何でしたか?", "What was your childhood nickname?"),
    ("最初に飼ったペットの名前は何ですか?", "What was the name of your first pet?"),
    ("両親が出会った都市はどこですか?", "In what city did your parents meet?"),
    ("母親の出身地(市区町村)はどこですか?", "In what city or town was your mother born?"),
    ("父親の出身地(市区町村)はどこですか?", "In what city or town was your father born?"),
    ("通っていた小学校の名前は何ですか?", "What was the name of your elementary school?"),
    ("通っていた中学校の名前は何ですか?", "What was the name of your middle school?"),
    ("通っていた高校の名前は何ですか?", "What was the name of your high school?"),
    ("小学 1 年生のときの担任の先生の名字は何ですか?", "What was the last name of your first grade teacher?"),
    ("子どもの頃の親友の名前は何ですか?", "What was the first name of your best friend as a child?"),
    ("初めてキスした相手の名前は何ですか?", "What was the first name of the first person you kissed?"),
    ("初めて買った車のメーカーとモデルは何ですか?", "What was the make and model of your first car?"),
    ("初めて乗った飛行機の行き先はどこですか?", "Where did you fly to on your first airplane trip?"),
    ("子どもの頃に好きだった食べ物は何ですか?", "What was your favorite food as a child?"),
    ("子どもの頃に好きだったキャラクターは何ですか?", "Who was your favorite cartoon character as a child?"),
    ("子どもの頃に憧れていた職業は何ですか?", "What job did you want to have when you were a child?"),
    ("10 歳のときに住んでいた通りの名前は何ですか?", "What was the name of the street you lived on when you were ten?"),
    ("幼い頃に住んでいた町の名前は何ですか?", "What was the name of the town you lived in as a young child?"),
    ("初めてのアルバイト先はどこですか?", "Where did you work at your first part-time job?"),
    ("初めて行ったコンサートのアーティストは誰ですか?", "Who was the artist at the first concert you attended?"),
    ("初めて映画館で見た映画のタイトルは何ですか?", "What was the first movie you saw in a theater?"),
    ("好きな本のタイトルは何ですか?", "What is the title of your favorite book?"),
    ("祖父母の家があった都市はどこですか?", "In what city did your grandparents live?"),
    ("母方の祖母の名前は何ですか?", "What is the first name of your maternal grandmother?"),
    ("父方の祖父の名前は何ですか?", "What is the first name of your paternal grandfather?"),
    ("いちばん上のいとこの名前は何ですか?", "What is the first name of your oldest cousin?"),
    ("いちばん年上のきょうだいの名前は何ですか?", "What is the first name of your oldest sibling?"),
    ("いちばん年下のきょうだいの名前は何ですか?", "What is the first name of your youngest sibling?"),
    ("子どもの頃のヒーローは誰でしたか?", "Who was your childhood hero?"),
    ("子どもの頃に好きだったスポーツチームは何ですか?", "What was your favorite sports team as a child?"),
    ("初めて行った外国の都市はどこですか?", "What was the first foreign city you visited?"),
    ("新婚旅行の行き先はどこですか?", "Where did you go on your honeymoon?"),
    ("好きな歴史上の人物は誰ですか?", "Who is your favorite historical person?"),
    ("初めて買った CD またはレコードのアーティストは誰ですか?", "Who was the artist of the first album you bought?"),
    ("卒業した大学の名前は何ですか?", "What was the name of the college or university you graduated from?"),
    ("子どもの頃に飼いたかったペットは何ですか?", "What pet did you want to have as a child?"),
    ("初めての上司の名字は何ですか?", "What was the last name of your first boss?"),
]


def add_bank(apps, schema_editor):
    SecurityQuestion = apps.get_model("recovery", "SecurityQuestion")
    SecurityQuestion.objects.bulk_create(
        SecurityQuestion(tenant=None, text_ja=ja, text_en=en, position=index)
        for index, (ja, en) in enumerate(QUESTIONS, start=1)
    )


def remove_bank(apps, schema_editor):
    SecurityQuestion = apps.get_model("recovery", "SecurityQuestion")
    SecurityQuestion.objects.filter(tenant=None, text_en__in=[en for _ja, en in QUESTIONS]).delete()


class Migration(migrations.Migration):
    dependencies = [("recovery", "0001_initial")]

    operations = [migrations.RunPython(add_bank, remove_bank)]
